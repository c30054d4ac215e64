"""The command-centre wall (大屏)."""

from __future__ import annotations

__all__ = ["WALL"]

WALL: dict[str, dict[str, str]] = {
    "zh": {
        "title": "指挥中心大屏",
        "heading": "{name}指挥中心",
        "open": "在办事件",
        "by_cell": "各{level}在办事件",
        "sources_today": "今日五哨",
        "today_total": "今日受理",
        "overdue": "超期事件",
        "overdue_for": "超期 {time}",
        "overdue_flagged": "已超时",
        "no_overdue": "暂无超期事件",
        "rates": "近7日三率",
        "live": "实时",
        "offline": "连接中断，正在重连",
        "updated": "更新于 {time}",
        "elsewhere": "另有 {n} 件在本级",
        "days": "{n}天",
        "hours": "{n}小时",
        "minutes": "{n}分钟",
        "no_map": "地图未能加载",
        "cases": "件",
        "back": "返回",
    },
    "en": {
        "title": "Command centre wall",
        "heading": "{name} command centre",
        "open": "Open cases",
        "by_cell": "Open cases by {level}",
        "sources_today": "Today's five whistles",
        "today_total": "Received today",
        "overdue": "Overdue",
        "overdue_for": "overdue {time}",
        "overdue_flagged": "overdue",
        "no_overdue": "No overdue cases",
        "rates": "Three rates, last 7 days",
        "live": "Live",
        "offline": "Connection lost, reconnecting",
        "updated": "Updated {time}",
        "elsewhere": "{n} more placed at this level",
        "days": "{n} d",
        "hours": "{n} h",
        "minutes": "{n} min",
        "no_map": "The map could not be loaded",
        "cases": "cases",
        "back": "Back",
    },
}
