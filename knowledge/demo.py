from pathlib import Path

from django.conf import settings

from knowledge.services import document_ingest


def seed(stdout) -> None:
    kb = Path(settings.BASE_DIR) / "demo" / "kb"
    for path in sorted(kb.glob("*.md")):
        document_ingest(title=path.stem.replace("-", " ").capitalize(),
                        source=f"demo/kb/{path.name}", text=path.read_text())
    stdout.write("demo knowledge base loaded")
