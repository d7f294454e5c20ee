from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="palestras",
    version="0.1.0",
    description="Finds the most related talks from past TDC editions for a talk's title and description.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["text_similarity_model*", "api*", "scraper*"]),
    include_package_data=True,
    install_requires=[
        line.strip()
        for line in Path(__file__).with_name("requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ],
    entry_points={"console_scripts": ["text_similarity_model = text_similarity_model.cli:main"]},
)
