# The canary notebooks fail on purpose; test_canaries.py runs each of them in
# its own pytest process, so a run with --nbval-lax over this folder must not
# collect them directly.
collect_ignore = ['canaries']
