/* Bounds of a version-3 AlterPartition (proto/controller.proto), shared by
 * the broker that batches ISR changes (broker/metadata/alter_batcher.h) and
 * the controller that checks them (controller/service_alter.c). */
#ifndef SLUICE_METADATA_ALTER_PARTITION_LIMITS_H
#define SLUICE_METADATA_ALTER_PARTITION_LIMITS_H

/* Items in one request, and so PartitionChangeRecords in the one raft entry
 * that commits them: a change record is ~60 bytes, so an entry stays near
 * 64 KiB. A broker sends at most this many; a controller refuses more
 * (INVALID_REQUEST for the whole request) before allocating per item. */
#define ALTER_PARTITION_MAX_ITEMS 1000

#endif
