/* What the broker itself knows of topic names: their maximum length (Kafka's
 * rule, checked with the others by the controller: metadata/fsm.h
 * fsm_topic_name_valid) and the names no client may create, refused before
 * the request is forwarded. Pure functions. */
#ifndef SLUICE_BROKER_METADATA_TOPIC_NAME_H
#define SLUICE_BROKER_METADATA_TOPIC_NAME_H

#include <stdbool.h>

#define TOPIC_NAME_MAX 249

/* The controller quorum keeps its Raft log in <metadata dir>/__cluster_metadata-0
 * (KRaft's layout, controller/controller_role.c), by default inside the first
 * log dir: partition 0 of a topic with this name would open that directory as
 * its log and, once the topic is deleted, remove every file in it. Kafka
 * refuses to create it ("Creation of internal topic __cluster_metadata is
 * prohibited.", INVALID_REQUEST). */
#define TOPIC_NAME_CLUSTER_METADATA "__cluster_metadata"
/* True for names no client may create (today only the one above). */
bool topic_name_reserved(const char *name);

#endif
