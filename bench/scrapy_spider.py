"""The Scrapy peer of bench_crawl.py: a breadth-first spider over one site.

Run by bench/crawl_clients.py inside a child process (CrawlerProcess, so
the child's CPU time is Scrapy's alone).  Settings match ungil's run:
the same page limit (CLOSESPIDER_PAGECOUNT), total and per-domain
concurrency, robots.txt off, no delay, AutoThrottle off, no retries, no
cookies, log level WARNING, and FIFO queues with DEPTH_PRIORITY=1 so that
the crawl is breadth-first (Scrapy's documented recipe).  Links are taken
with response.css("a::attr(href)") and followed within the start host
(OffsiteMiddleware via allowed_domains); Scrapy's dupefilter drops URLs
already requested.
"""

from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess


class SiteSpider(scrapy.Spider):
    name = "site"

    def __init__(self, start, **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [start]
        self.allowed_domains = [urlsplit(start).hostname]
        self.pages = 0

    def parse(self, response):
        self.pages += 1
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, callback=self.parse)


def settings(max_pages, concurrency, per_host):
    return {
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
        "CONCURRENT_REQUESTS_PER_IP": 0,
        "CLOSESPIDER_PAGECOUNT": max_pages,
        "ROBOTSTXT_OBEY": False,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "RETRY_ENABLED": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "DEPTH_PRIORITY": 1,
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    }


def crawl(start, max_pages, concurrency, per_host):
    """Crawls from `start`; returns the number of pages parsed."""
    process = CrawlerProcess(settings(max_pages, concurrency, per_host))
    crawler = process.create_crawler(SiteSpider)
    process.crawl(crawler, start=start)
    process.start()
    return crawler.spider.pages
