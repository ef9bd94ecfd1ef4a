/* sluicectl group list | describe GROUP | delete GROUP, in the spirit of
 * kafka-consumer-groups.sh: ListGroups on every broker, DescribeGroups and
 * OffsetFetch at the group's coordinator (FindCoordinator), end offsets
 * from each partition's leader (ListOffsets) for the lag, DeleteGroups. */
#ifndef SLUICE_TOOLS_SLUICECTL_GROUP_CMD_H
#define SLUICE_TOOLS_SLUICECTL_GROUP_CMD_H

/* argv[0] is "group". Returns an exit code (enum sluicectl_exit). */
int group_cmd_main(int argc, char **argv);
void group_cmd_usage(void);

#endif
