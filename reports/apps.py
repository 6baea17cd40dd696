from django.apps import AppConfig


class ReportsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"
    verbose_name = "Weekly reports"

    def ready(self):
        from reports import jobs

        jobs.register_kinds()  # the workbook of a province or the Ministry (core/jobs.py)
