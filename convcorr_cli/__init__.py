"""convcorr_cli: the `convcorr` command, on top of the library (`convcorr_jax`) and the experiments (`convcorr_eval`).

    main       the dispatcher (`convcorr COMMAND ...`, `python -m convcorr_cli COMMAND ...`) and the JAX
               compilation cache every command runs with
    <command>  one module per command: `add_arguments(parser)` and `run(args) -> int` (parse, call, print)
"""
