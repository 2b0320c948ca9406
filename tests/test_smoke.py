def test_home_page_renders_for_a_visitor(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Trending" in response.data
