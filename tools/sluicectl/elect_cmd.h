/* `sluicectl partition elect-leaders`, as kafka-leader-election.sh: an
 * ElectLeaders request (v2; PREFERRED or UNCLEAN) for every partition, one
 * partition, or a JSON file's list ({"partitions":[{"topic":..,
 * "partition":..}]}), and each partition's outcome. */
#ifndef SLUICE_TOOLS_SLUICECTL_ELECT_CMD_H
#define SLUICE_TOOLS_SLUICECTL_ELECT_CMD_H

/* argv[0] is "elect-leaders". Returns an exit code (topic_cmd.h): 1 when any
 * partition's election failed (ELECTION_NOT_NEEDED is not a failure). */
int elect_cmd_main(int argc, char **argv);

#endif
