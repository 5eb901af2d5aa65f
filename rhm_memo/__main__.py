"""``python -m rhm_memo``: the same as the ``rhm-memo`` command."""

from rhm_memo.cli import main

if __name__ == "__main__":
    main()
