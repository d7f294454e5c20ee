"""Spiders of the scraper project (Scrapy discovers them through SPIDER_MODULES)."""
