/* sluicectl node status --http host:port: one node's own view, from its HTTP
 * endpoints (metrics.listener): prints the JSON of /status and exits by
 * /readyz. Uses libcurl for HTTP. */
#ifndef SLUICE_TOOLS_SLUICECTL_NODE_CMD_H
#define SLUICE_TOOLS_SLUICECTL_NODE_CMD_H

/* argv[0] is "node". Exit codes: 0 ready, 1 answering but not ready,
 * 2 usage, 3 no answer. */
int node_cmd_main(int argc, char **argv);

#endif
