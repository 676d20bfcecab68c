from django.urls import path

from rewards import api, views

urlpatterns = [
    path("projects/<int:project_id>/dashboard/", views.dashboard, name="rewards-dashboard"),
    path("api/projects/<int:project_id>/dashboard/", api.dashboard_data, name="rewards-dashboard-data"),
    path("api/projects/<int:project_id>/training-runs/", api.training_runs, name="rewards-training-runs"),
    path("api/projects/<int:project_id>/training-runs/<int:run_id>/", api.training_run, name="rewards-training-run"),
    path("api/projects/<int:project_id>/reward-models/", api.reward_models, name="rewards-reward-models"),
    path("api/projects/<int:project_id>/reward-models/rollback/", api.roll_back, name="rewards-rollback"),
    path("api/projects/<int:project_id>/reward-models/<int:version>/promote/", api.promote,
         name="rewards-promote"),
]
