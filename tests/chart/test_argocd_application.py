"""deploy/argocd/application.yaml: valid, allowed on the default openshift-gitops instance, and
pointed at what the chart installs."""

from __future__ import annotations

import yaml

from chart_helpers import CHART, PROJECT_ROOT, crd_errors

APPLICATION = PROJECT_ROOT / "deploy" / "argocd" / "application.yaml"


def application():
    return yaml.safe_load(APPLICATION.read_text())


def test_the_application_validates_strictly():
    assert crd_errors(application()) == []


def test_the_default_instance_may_write_to_the_namespace_it_creates():
    """The OpenShift GitOps operator binds an instance's application controller in a namespace only
    when the namespace carries `argocd.argoproj.io/managed-by: <instance namespace>`
    (argoproj-labs/argocd-operator docs/usage/custom_roles.md; redhat-developer/gitops-operator);
    without it the default instance cannot create Deployments, CronJobs, Tekton or KServe objects.
    CreateNamespace=true applies syncPolicy.managedNamespaceMetadata to the namespace it creates
    (argo-cd docs/user-guide/sync-options.md "Namespace Auto-Creation")."""
    app = application()
    instance = app["metadata"]["namespace"]
    policy = app["spec"]["syncPolicy"]
    assert "CreateNamespace=true" in policy["syncOptions"]
    assert policy["managedNamespaceMetadata"]["labels"] == {"argocd.argoproj.io/managed-by": instance}


def test_the_application_targets_the_chart_and_keeps_promotions():
    app = application()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert app["spec"]["destination"]["namespace"] == values["main"]["namespace"]
    assert app["spec"]["source"]["path"] == "charts/hub"
    for value_file in app["spec"]["source"]["helm"]["valueFiles"]:
        assert (CHART / value_file).resolve().is_file(), value_file
    [ignored] = app["spec"]["ignoreDifferences"]
    assert ignored["jsonPointers"] == ["/spec/predictor/annotations/modelkit.io~1served-version"]
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
