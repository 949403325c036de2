# vmnet.networks: one command for the demo, one for all tests. Each does its own setup.
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLL := $(CURDIR)/.build/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLL)
export PYTHONPATH := $(COLL)
export PATH := $(BIN):$(PATH):/usr/sbin:/sbin
export ANSIBLE_HOME := $(CURDIR)/.cache/ansible
export ANSIBLE_LOCAL_TEMP := $(CURDIR)/.cache/ansible/tmp

.PHONY: setup test sanity lint unit integration molecule release demo demo-clean bench libvirt

setup:
	@bash scripts/setup.sh

libvirt: setup
	@bash scripts/libvirtd.sh start

test: setup
	@bash scripts/test.sh all

sanity: setup
	@bash scripts/test.sh sanity

lint: setup
	@bash scripts/test.sh lint

unit: setup
	@bash scripts/test.sh unit

integration: libvirt
	@bash scripts/test.sh integration

release: setup
	@bash scripts/test.sh release

molecule: libvirt
	@bash scripts/test.sh molecule

demo: libvirt
	@$(BIN)/ansible-playbook -i localhost, -c local playbooks/demo.yml

demo-clean: libvirt
	@$(BIN)/ansible-playbook -i localhost, -c local playbooks/demo.yml -e vmnet_demo_state=absent

bench: libvirt
	@$(BIN)/python bench/run.py
