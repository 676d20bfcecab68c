from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from exports import api as exports_api
from intake import views as intake_views
from labeling import api, views

router = DefaultRouter()
router.register("projects", api.ProjectViewSet, basename="project")
router.register("tasks", api.TaskViewSet, basename="task")
router.register("me", api.MeViewSet, basename="me")
router.register("reviews", api.ReviewViewSet, basename="review")
router.register("exports", exports_api.ExportJobViewSet, basename="export")
router.register("imports", exports_api.ImportJobViewSet, basename="import")

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:project_id>/work/<str:kind>/", views.work, name="work"),
    path("projects/<int:project_id>/models/", views.model_comparison, name="model-comparison"),
    path("history/", views.history, name="history"),
    path("history/<int:task_id>/amend/", views.amend, name="amend"),
    path("projects/<int:project_id>/qualification/", views.qualification, name="qualification"),
    path("projects/<int:project_id>/review/", views.review, name="review"),
    path("projects/<int:project_id>/quality/", views.quality_page, name="quality"),
    path("v1/chat/completions", intake_views.chat_completions, name="chat-completions"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("rewards.urls")),
    path("", include("exports.urls")),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
