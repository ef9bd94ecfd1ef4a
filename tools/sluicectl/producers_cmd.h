/* sluicectl producers TOPIC PARTITION: the idempotent producers the
 * partition's leader remembers (DescribeProducers, in the spirit of
 * kafka-transactions.sh describe-producers). */
#ifndef SLUICE_TOOLS_SLUICECTL_PRODUCERS_CMD_H
#define SLUICE_TOOLS_SLUICECTL_PRODUCERS_CMD_H

/* argv[0] is "producers". Returns a SLUICECTL_* exit code. */
int producers_cmd_main(int argc, char **argv);

#endif
