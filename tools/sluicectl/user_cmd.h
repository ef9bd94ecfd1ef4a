/* sluicectl user set-password | delete | list: SCRAM users in the spirit of
 * kafka-configs.sh --entity-type users, over AlterUserScramCredentials and
 * DescribeUserScramCredentials (KIP-554). The salted password is computed
 * here (PBKDF2 with a random salt): the password never leaves sluicectl. */
#ifndef SLUICE_TOOLS_SLUICECTL_USER_CMD_H
#define SLUICE_TOOLS_SLUICECTL_USER_CMD_H

/* argv[0] is "user". Returns an exit code (enum sluicectl_exit). */
int user_cmd_main(int argc, char **argv);
void user_cmd_usage(void);

#endif
