from pathlib import Path

from setuptools import Extension, find_packages, setup

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
    # The ranking hot loop in C (text_similarity_model/steps/_ranking.c). Optional: without
    # a C compiler the install still succeeds and the same results come from NumPy,
    # more slowly (the service logs which one it uses; /health tells).
    ext_modules=[
        Extension(
            "text_similarity_model.steps._ranking",
            ["text_similarity_model/steps/_ranking.c"],
            # No fused multiply-add: the same rounding as NumPy's path, step by step.
            extra_compile_args=["-O3", "-ffp-contract=off"],
            optional=True,
        )
    ],
    entry_points={"console_scripts": ["text_similarity_model = text_similarity_model.cli:main"]},
)
