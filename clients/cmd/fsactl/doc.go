// Command fsactl is the command-line client of fsad, the fsa daemon: log in, create projects
// and follow them until they run, manage their environment variables, watch changes and
// administer the cluster.
//
// Configuration: ~/.config/fsactl/config.json (mode 0600; $XDG_CONFIG_HOME respected, or
// --config / FSACTL_CONFIG) keeps the endpoints and the session token written by `fsactl
// login`. --endpoint / FSA_ENDPOINT and --token / FSA_TOKEN override it (flag over environment
// over file). --output table (default, aligned columns) or json (protobuf JSON) selects the
// format of every command's result.
//
// Exit codes: 0 on success; 1 when a command fails, with "error: <code>: <message>" on stderr
// (the code is the API's, e.g. not_found, or "usage" for a bad command line). `project create
// --wait` also exits 1 when the project ends in ERROR, printing the reason.
//
// The token, passwords and kubeconfigs are never printed, except the terminal URL that
// `project terminal` exists to show.
package main
