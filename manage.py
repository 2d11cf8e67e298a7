#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewhub.settings")
    from reviewhub.env import ImproperEnv

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ImproperEnv as exc:
        sys.exit(f"Configuration error: {exc}")


if __name__ == "__main__":
    main()
