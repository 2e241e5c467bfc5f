import xml.etree.ElementTree as ElementTree

import pytest

from adapters.prestashop.webservice import Languages, WebserviceError, fill_blank

BLANK = """<prestashop><cart><id/><id_customer/><delivery_option/><name><language id="1"/></name>
<associations><cart_rows><cart_row><id_product/><quantity/></cart_row></cart_rows><other><x/></other></associations>
</cart></prestashop>"""


def test_a_blank_schema_is_filled_with_the_fields_given_and_keeps_its_shape():
    node = ElementTree.fromstring(BLANK).find("cart")
    fill_blank(node, {"id_customer": 3, "delivery_option": '{"7":"2,"}', "name": Languages({1: "Club & Co"}),
                      "associations": {"cart_rows": [("cart_row", {"id_product": 20, "quantity": 1}),
                                                     ("cart_row", {"id_product": 21, "quantity": 2})]}}, "carts")
    assert node.findtext("id_customer") == "3" and node.findtext("delivery_option") == '{"7":"2,"}'
    assert node.find("name/language[@id='1']").text == "Club & Co"
    assert [(r.findtext("id_product"), r.findtext("quantity")) for r in node.iter("cart_row")] == [("20", "1"),
                                                                                                  ("21", "2")]
    assert node.find("associations/other") is None  # associations abonne does not send are left out


def test_a_field_this_shops_schema_lacks_is_named():
    with pytest.raises(WebserviceError, match="this shop's carts have no field 'id_bogus'"):
        fill_blank(ElementTree.fromstring(BLANK).find("cart"), {"id_bogus": 1}, "carts")


def test_associations_are_left_out_when_none_are_given():
    node = ElementTree.fromstring(BLANK).find("cart")
    fill_blank(node, {"id_customer": 3}, "carts")
    assert node.find("associations") is None
