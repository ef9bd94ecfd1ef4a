/* sluicectl partition; see partition_cmd.h. */
#include "tools/sluicectl/partition_cmd.h"

#include <stdio.h>
#include <string.h>

#include "tools/sluicectl/elect_cmd.h"
#include "tools/sluicectl/reassign_cmd.h"
#include "tools/sluicectl/topic_cmd.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluicectl partition <command> --bootstrap-server host:port [options]\n"
            "\n"
            "commands:\n"
            "  elect-leaders   elect preferred (or unclean) leaders  (... elect-leaders --help)\n");
}

int partition_cmd_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SLUICECTL_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return SLUICECTL_OK;
    }
    if (strcmp(argv[1], "elect-leaders") == 0) {
        return elect_cmd_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "reassign") == 0) {
        return reassign_cmd_main(argc - 1, argv + 1);
    }
    fprintf(stderr, "sluicectl partition: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return SLUICECTL_USAGE;
}
