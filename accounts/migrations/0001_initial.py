from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        migrations.CreateModel(
            name="Role",
            fields=[("id", models.BigAutoField(primary_key=True, serialize=False))],
            options={
                "managed": False,
                "default_permissions": (),
                "permissions": [
                    ("use_chat", "Can chat and rate own answers"),
                    ("review", "Can work the review queue"),
                    ("upload_documents", "Can add documents to the knowledge base"),
                    ("replay", "Can replay logged questions"),
                    ("adjudicate", "Can adjudicate disagreements"),
                    ("manage_releases", "Can build and approve dataset releases"),
                    ("view_analytics", "Can see graph analytics"),
                ],
            },
        ),
    ]
