/* sluicectl log-dirs: the bootstrap broker's log directories (DescribeLogDirs,
 * in the spirit of kafka-log-dirs.sh --describe): each directory's status
 * (online, or offline after a storage error), its partitions and their
 * sizes, and the volume's total and usable bytes. */
#ifndef SLUICE_TOOLS_SLUICECTL_LOG_DIRS_CMD_H
#define SLUICE_TOOLS_SLUICECTL_LOG_DIRS_CMD_H

/* argv[0] is "log-dirs". Returns a SLUICECTL_* exit code. */
int log_dirs_cmd_main(int argc, char **argv);

#endif
