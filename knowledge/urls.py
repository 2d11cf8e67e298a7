from django.urls import path

from knowledge import views

app_name = "knowledge"

urlpatterns = [
    path("", views.documents, name="documents"),
    path("d/<uuid:document_id>/", views.document, name="document"),
    path("d/<uuid:document_id>/delete", views.document_delete, name="delete"),
]
