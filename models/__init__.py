"""Every model, importable from one place (``from models import User``).

Importing this package registers all tables on ``db.metadata``, which Alembic and the tests need.
"""
from models.affiliate import AffiliateClick, AffiliateConversion, AffiliatePerformance
from models.metrics import HealthCheck, HealthHour, PlatformMetric, RequestMetric, TrafficHour
from models.monitoring import (
    Keyword,
    Monitor,
    MonitorProduct,
    PollRun,
    PricePoint,
    Product,
    ProductEvent,
)
from models.notifications import Delivery, Notification, NotificationChannel, NotificationPreference
from models.site import SiteSetting
from models.users import AdminSession, SecurityEvent, User

__all__ = [
    "AdminSession", "AffiliateClick", "AffiliateConversion", "AffiliatePerformance", "Delivery",
    "HealthCheck", "HealthHour", "Keyword", "Monitor", "MonitorProduct", "Notification", "NotificationChannel",
    "NotificationPreference",
    "PlatformMetric", "PollRun", "PricePoint", "Product", "ProductEvent", "RequestMetric",
    "SecurityEvent", "SiteSetting", "TrafficHour", "User",
]
