import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from knowledge.models import Document
from knowledge.services import document_ingest


@pytest.mark.django_db
def test_end_users_cannot_see_or_upload_to_the_knowledge_base(client_for, end_user):
    client = client_for(end_user)
    assert client.get(reverse("knowledge:documents")).status_code == 403
    upload = SimpleUploadedFile("a.md", b"# A\n\ntext")
    assert client.post(reverse("knowledge:documents"), {"files": [upload]}).status_code == 403
    assert not Document.objects.exists()


@pytest.mark.django_db
def test_empty_knowledge_base_explains_how_to_add_documents(client_for, expert):
    page = client_for(expert).get(reverse("knowledge:documents")).content.decode()
    assert "The knowledge base is empty" in page and "ingest_documents" in page


@pytest.mark.django_db
def test_expert_uploads_several_files_and_a_repeat_changes_nothing(client_for, expert):
    client = client_for(expert)

    def files():
        return [
            SimpleUploadedFile("ports.md", b"# Ports\n\nBolt uses 7687."),
            SimpleUploadedFile("faq.html", b"<h1>FAQ</h1><script>x()</script><p>Answers.</p>"),
        ]

    response = client.post(reverse("knowledge:documents"), {"files": files()}, follow=True)
    assert "2 documents added" in response.content.decode()
    response = client.post(reverse("knowledge:documents"), {"files": files()}, follow=True)
    assert "0 documents added, 2 unchanged" in response.content.decode()
    assert Document.objects.count() == 2
    faq = Document.objects.get(title="FAQ")
    assert "x()" not in faq.text and "Answers." in faq.text


@pytest.mark.django_db
def test_unsupported_upload_is_reported_and_skipped(client_for, lead):
    response = client_for(lead).post(
        reverse("knowledge:documents"),
        {"files": [SimpleUploadedFile("a.pdf", b"%PDF")]},
        follow=True,
    )
    html = response.content.decode()
    assert "unsupported file type" in html
    assert "documents added" not in html  # the refusal alone, not beside "0 documents added"
    assert not Document.objects.exists()


@pytest.mark.django_db
def test_document_list_and_detail(client_for, expert, django_assert_max_num_queries):
    for i in range(5):
        document_ingest(title=f"Doc {i}", source=f"d{i}.md", text=f"Text number {i}. " * 80)
    client = client_for(expert)
    with django_assert_max_num_queries(7):  # 6 + the inbox count in the navigation
        page = client.get(reverse("knowledge:documents")).content.decode()
    assert "Doc 4" in page
    doc = Document.objects.get(title="Doc 0")
    page = client.get(reverse("knowledge:document", args=[doc.id])).content.decode()
    assert f"{doc.chunks.count()} chunks" in page and "Chunk 1" in page
    client.post(reverse("knowledge:delete", args=[doc.id]))
    assert not Document.objects.filter(pk=doc.pk).exists()


@pytest.mark.django_db
def test_removing_a_document_asks_first_and_says_what_it_affects(client_for, expert, end_user):
    from chat.services import chat_ask, conversation_create

    doc = document_ingest(
        title="Backups", source="b.md", text="Restore a snapshot from the Snapshots tab."
    )[0]
    chat_ask(conversation=conversation_create(user=end_user), user=end_user, question="restore?")
    client = client_for(expert)
    detail = client.get(reverse("knowledge:document", args=[doc.id])).content.decode()
    confirm_url = reverse("knowledge:delete", args=[doc.id])
    assert f'href="{confirm_url}"' in detail  # a link to the confirmation, not a delete button
    page = client.get(confirm_url).content.decode()
    assert "Remove “Backups”?" in page and "1 logged answer cited it" in page
    assert Document.objects.filter(pk=doc.pk).exists()  # asking removed nothing
    response = client.post(confirm_url)
    assert response.status_code == 302 and not Document.objects.filter(pk=doc.pk).exists()
