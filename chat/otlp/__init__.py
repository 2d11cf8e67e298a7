"""OpenTelemetry ingestion: OTLP/HTTP traces at /v1/traces become logged turns.

decode.py reads the request bodies, mapping.py turns LLM/retriever spans into the ingestion
API's interactions, views.py is the endpoint (chat.services.interactions_ingest stores them).
"""
