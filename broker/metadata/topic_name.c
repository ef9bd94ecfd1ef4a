/* Reserved topic names; see topic_name.h. */
#include "broker/metadata/topic_name.h"

#include <string.h>

bool topic_name_reserved(const char *name)
{
    return strcmp(name, TOPIC_NAME_CLUSTER_METADATA) == 0;
}
