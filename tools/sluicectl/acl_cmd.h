/* sluicectl acl create | list | delete: ACL bindings in the spirit of
 * kafka-acls.sh (--add, --list, --remove), over CreateAcls, DescribeAcls and
 * DeleteAcls (v1: prefixed patterns). One binding per resource x operation x
 * principal x host given; list and delete take the same options as filters
 * (what is left out matches anything). */
#ifndef SLUICE_TOOLS_SLUICECTL_ACL_CMD_H
#define SLUICE_TOOLS_SLUICECTL_ACL_CMD_H

/* argv[0] is "acl". Returns an exit code (enum sluicectl_exit). */
int acl_cmd_main(int argc, char **argv);
void acl_cmd_usage(void);

#endif
