/* `sluicectl partition ...`: moving partitions, in the spirit of
 * kafka-leader-election.sh (elect-leaders, elect_cmd.[ch]) and
 * kafka-reassign-partitions.sh (reassign, reassign_cmd.[ch]). */
#ifndef SLUICE_TOOLS_SLUICECTL_PARTITION_CMD_H
#define SLUICE_TOOLS_SLUICECTL_PARTITION_CMD_H

/* argv[0] is "partition". Returns an exit code (topic_cmd.h). */
int partition_cmd_main(int argc, char **argv);

#endif
