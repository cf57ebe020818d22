"""Entry point: ``python -m harness [group=option ...] [key=value ...]`` (Hydra)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from harness.config import conf_dir
from harness.errors import ConfigError, HarnessError


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    from harness.runner import run

    try:
        run(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # a write fault outside the checked paths: one line, not a traceback
        from harness.engine.files import fault_message

        if fault_message(exc) is None:
            raise
        print(f"error: {fault_message(exc)}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    from harness.config import check_argv, normalise_argv
    from harness.engine.files import ignore_file_size_signal

    # past `ulimit -f` a write fails with EFBIG (reported), no silent kill
    ignore_file_size_signal()

    try:
        sys.argv[1:] = normalise_argv(sys.argv[1:])
        check_argv(sys.argv[1:])
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()


if __name__ == "__main__":
    main()
