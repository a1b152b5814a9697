"""The application: the ``ussd`` command line, where the engine, accounts, gateway and simulator meet."""
