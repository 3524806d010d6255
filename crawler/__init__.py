"""The Scrapy crawl runtime: settings, spider loader, downloader middlewares, pipelines."""
