/* Kafka's topic-name rules (Kafka's Topic.validate / hasCollision):
 * 1 to 249 characters from [a-zA-Z0-9._-], not "." or "..". Because metric
 * names replace '.' with '_', two topics whose names differ only in those two
 * characters collide and cannot both exist. Pure functions. */
#ifndef SLUICE_BROKER_METADATA_TOPIC_NAME_H
#define SLUICE_BROKER_METADATA_TOPIC_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define TOPIC_NAME_MAX 249

/* 0 if `name` is legal, else -EINVAL with `err` saying which rule it breaks. */
int topic_name_validate(const char *name, char *err, size_t errlen);
/* True when `a` and `b` are equal once every '.' is read as '_'. */
bool topic_name_collides(const char *a, const char *b);

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
