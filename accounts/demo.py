from accounts.services import user_create

DEMO_USERS = [
    ("demo_user", "end_user"),
    ("demo_user2", "end_user"),
    ("demo_expert", "expert"),
    ("demo_expert2", "expert"),
    ("demo_lead", "lead"),
    ("demo_lead2", "lead"),
]


def demo_password(username: str) -> str:
    return "demo-" + username.split("_", 1)[1]


def seed(stdout) -> None:
    for username, role in DEMO_USERS:
        user_create(username=username, role=role, password=demo_password(username))
    stdout.write(f"demo users: {', '.join(name for name, _ in DEMO_USERS)}")
