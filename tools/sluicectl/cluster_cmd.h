/* sluicectl cluster status: the controller quorum (who leads, term, last
 * applied), the brokers (alive or fenced, epoch, endpoints) and every
 * partition's leader, ISR and epochs, asked of the controllers directly over
 * the controller RPC (DescribeQuorum, proto/controller.proto). */
#ifndef SLUICE_TOOLS_SLUICECTL_CLUSTER_CMD_H
#define SLUICE_TOOLS_SLUICECTL_CLUSTER_CMD_H

/* argv[0] is "cluster". Exit codes: 0 ok, 1 no leader known, 2 usage,
 * 3 no controller answered. */
int cluster_cmd_main(int argc, char **argv);

#endif
