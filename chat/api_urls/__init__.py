"""URLs of the ingestion API; reviewhub/urls.py mounts `chat.api_urls.urls` at /api/v1/."""
