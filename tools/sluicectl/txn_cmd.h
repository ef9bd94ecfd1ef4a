/* sluicectl txn: the transactional ids of a cluster, in the spirit of
 * kafka-transactions.sh (list, describe). */
#ifndef SLUICE_TOOLS_SLUICECTL_TXN_CMD_H
#define SLUICE_TOOLS_SLUICECTL_TXN_CMD_H

/* argv[0] is "txn". Returns a SLUICECTL_* exit code. */
int txn_cmd_main(int argc, char **argv);

#endif
