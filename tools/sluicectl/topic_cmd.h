/* `sluicectl topic ...`: create, list, describe, delete and alter-config
 * topics over the Kafka protocol (Metadata, CreateTopics, DeleteTopics,
 * DescribeConfigs, IncrementalAlterConfigs). Admin requests go to the
 * controller the Metadata response names, as Kafka's admin client does. */
#ifndef SLUICE_TOOLS_SLUICECTL_TOPIC_CMD_H
#define SLUICE_TOOLS_SLUICECTL_TOPIC_CMD_H

/* Exit codes of sluicectl. */
enum sluicectl_exit {
    SLUICECTL_OK = 0,
    SLUICECTL_FAILED = 1,  /* the operation was refused or failed */
    SLUICECTL_USAGE = 2,   /* bad command line */
    SLUICECTL_CONNECT = 3, /* cannot reach the cluster */
};

/* argv[0] is "topic". Returns an exit code. */
int topic_cmd_main(int argc, char **argv);
void topic_cmd_usage(void);

#endif
