/*
 * String setters for the fixed arrays of the configuration structs
 * (x400_p1_link_config's bind names and passwords, x400_assoc_config's
 * session connection identifier): a value that does not fit is refused
 * with X400_ERR_LIMIT and the field is left as it was -- never truncated.
 */
#include <string.h>

#include "x400p1/assoc.h"
#include "x400p1/p1link.h"

/* Copy the NUL-terminated `s` (NULL: "") into dst[cap] as bytes, *len set. */
static int set_bytes(uint8_t *dst, size_t cap, size_t *len, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > cap) return X400_ERR_LIMIT;
    if (n) memcpy(dst, s, n);
    *len = n;
    return X400_OK;
}

/* MTAName, X.411 12.2.1.1.1.8: IA5String (SIZE (1..ub-mta-name-length)). */
int x400_p1_link_config_set_own_name(x400_p1_link_config *cfg, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (!cfg) return X400_ERR_INVALID_ARG;
    if (n > X400_MTA_NAME_MAX) return X400_ERR_LIMIT;
    memcpy(cfg->own_name, name ? name : "", n + 1);
    return X400_OK;
}

/* Password, X.411 12.2.1.1.1.2 (IA5String, ub-password-length). */
int x400_p1_link_config_set_own_password(x400_p1_link_config *cfg, const char *password)
{
    if (!cfg) return X400_ERR_INVALID_ARG;
    return set_bytes(cfg->own_password, sizeof cfg->own_password, &cfg->own_password_len,
                     password);
}

int x400_p1_link_config_set_peer_password(x400_p1_link_config *cfg, const char *password)
{
    int rv;
    if (!cfg) return X400_ERR_INVALID_ARG;
    if (!password) {
        cfg->peer_password_set = 0;
        cfg->peer_password_len = 0;
        return X400_OK;
    }
    if ((rv = set_bytes(cfg->peer_password, sizeof cfg->peer_password,
                        &cfg->peer_password_len, password)) < 0)
        return rv;
    cfg->peer_password_set = 1;
    return X400_OK;
}

/* SessionConnectionIdentifier parts, X.225 8.3.1.3 (calling SS-user
 * reference, common reference). */
int x400_assoc_config_set_calling_ref(x400_assoc_config *cfg, const char *ref)
{
    if (!cfg) return X400_ERR_INVALID_ARG;
    return set_bytes(cfg->calling_ref, sizeof cfg->calling_ref, &cfg->calling_ref_len, ref);
}

int x400_assoc_config_set_common_ref(x400_assoc_config *cfg, const char *ref)
{
    if (!cfg) return X400_ERR_INVALID_ARG;
    return set_bytes(cfg->common_ref, sizeof cfg->common_ref, &cfg->common_ref_len, ref);
}
