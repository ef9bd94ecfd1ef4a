/* sluicectl: Sluice's admin command line, speaking the Kafka protocol. */
#include <stdio.h>
#include <string.h>

#include "tools/sluicectl/acl_cmd.h"
#include "tools/sluicectl/cluster_cmd.h"
#include "tools/sluicectl/group_cmd.h"
#include "tools/sluicectl/log_dirs_cmd.h"
#include "tools/sluicectl/node_cmd.h"
#include "tools/sluicectl/partition_cmd.h"
#include "tools/sluicectl/producers_cmd.h"
#include "tools/sluicectl/reassign_cmd.h"
#include "tools/sluicectl/storage_cmd.h"
#include "tools/sluicectl/topic_cmd.h"
#include "tools/sluicectl/txn_cmd.h"
#include "tools/sluicectl/user_cmd.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

static void usage(FILE *out)
{
    fprintf(out, "usage: sluicectl [--version] [--help] <command> [args]\n"
                 "\n"
                 "Administers a Sluice cluster over the Kafka protocol.\n"
                 "\n"
                 "commands:\n"
                 "  topic create|list|describe|delete|alter-config   (sluicectl topic --help)\n"
                 "  cluster status --controller host:port [--json]  (sluicectl cluster --help)\n"
                 "  group list|describe|delete|reset-offsets         (sluicectl group --help)\n"
                 "  node status --http host:port                     (sluicectl node --help)\n"
                 "  log-dirs --bootstrap-server h:p  a broker's disks (sluicectl log-dirs --help)\n"
                 "  partition elect-leaders|reassign                 (sluicectl partition --help)\n"
                 "  broker decommission ID                           (sluicectl broker --help)\n"
                 "  producers TOPIC PARTITION --bootstrap-server h:p (sluicectl producers --help)\n"
                 "  txn list|describe ID  transactional ids          (sluicectl txn --help)\n"
                 "  user set-password|delete|list  SCRAM users       (sluicectl user --help)\n"
                 "  acl create|list|delete  ACL bindings             (sluicectl acl --help)\n"
                 "  storage random-uuid   a new cluster id           (sluicectl storage --help)\n"
                 "\n"
                 "options:\n"
                 "  --version   print the version and exit\n"
                 "  --help      print this help and exit\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("sluicectl %s\n", SLUICE_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "topic") == 0) {
        return topic_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "group") == 0) {
        return group_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "node") == 0) {
        return node_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "broker") == 0) {
        return broker_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "partition") == 0) {
        return partition_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "log-dirs") == 0) {
        return log_dirs_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "producers") == 0) {
        return producers_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "txn") == 0) {
        return txn_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "user") == 0) {
        return user_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "acl") == 0) {
        return acl_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "storage") == 0) {
        return storage_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "cluster") == 0) {
        return cluster_cmd_main(argc - 1, argv + 1);
    }
    fprintf(stderr, "sluicectl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
