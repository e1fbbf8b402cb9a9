from tvmcli.cli import main

main()
