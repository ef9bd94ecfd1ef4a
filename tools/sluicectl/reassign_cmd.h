/* `sluicectl partition reassign` (kafka-reassign-partitions.sh: --execute,
 * --verify and --cancel a plan file, --generate one) and `sluicectl broker
 * decommission ID` (a plan moving every replica off a broker, executed and
 * waited for). Over AlterPartitionReassignments, ListPartitionReassignments
 * (KIP-455) and Metadata. Plan files are Kafka's:
 * {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3]}]}. */
#ifndef SLUICE_TOOLS_SLUICECTL_REASSIGN_CMD_H
#define SLUICE_TOOLS_SLUICECTL_REASSIGN_CMD_H

/* argv[0] is "reassign". Returns an exit code (topic_cmd.h); --verify exits
 * 1 while any partition of the plan is not where the plan puts it. */
int reassign_cmd_main(int argc, char **argv);
/* argv[0] is "broker"; argv[1] "decommission". */
int broker_cmd_main(int argc, char **argv);

#endif
