from django.urls import path

from exports import api, views

urlpatterns = [
    path("exports/<int:job_id>/download/", views.download, name="export-download"),
    path("api/datasets/import/", api.DatasetImportView.as_view(), name="dataset-import"),
    path("api/projects/<int:project_id>/import/", api.ProjectImportView.as_view(), name="project-import"),
]
