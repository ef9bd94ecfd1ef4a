/* Topic-name rules; see topic_name.h. */
#include "broker/metadata/topic_name.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool legal_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int topic_name_validate(const char *name, char *err, size_t errlen)
{
    if (name == NULL || name[0] == '\0') {
        snprintf(err, errlen, "topic name is empty");
        return -EINVAL;
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        snprintf(err, errlen, "topic name cannot be \".\" or \"..\"");
        return -EINVAL;
    }
    size_t len = strlen(name);
    if (len > TOPIC_NAME_MAX) {
        snprintf(err, errlen, "topic name is %zu characters, longer than the maximum %d", len,
                 TOPIC_NAME_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!legal_char(name[i])) {
            snprintf(err, errlen,
                     "topic name '%s' contains an illegal character at position %zu; legal "
                     "characters are ASCII alphanumerics, '.', '_' and '-'",
                     name, i);
            return -EINVAL;
        }
    }
    return 0;
}

bool topic_name_collides(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a == '.' ? '_' : *a;
        char y = *b == '.' ? '_' : *b;
        if (x != y) {
            return false;
        }
    }
    return *a == *b;
}

bool topic_name_reserved(const char *name)
{
    return strcmp(name, TOPIC_NAME_CLUSTER_METADATA) == 0;
}
